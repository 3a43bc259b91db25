# Objects only some manifests declare are unmanaged drift: the report lists them and exits 2.
esxnet apply manifests --target sim:lab --auto-approve
esxnet drift manifests/00-hosts.yaml manifests/10-provisioning-netstack.yaml --target sim:lab --output markdown
