# The same unmanaged objects as text.
esxnet apply manifests --target sim:lab --auto-approve
esxnet drift manifests/00-hosts.yaml manifests/10-provisioning-netstack.yaml --target sim:lab
