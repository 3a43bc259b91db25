# The same deletes as text: the reason on its own line, the device next to the adapter's name.
esxnet apply manifests --target sim:lab --auto-approve
esxnet plan manifests/00-hosts.yaml manifests/10-provisioning-netstack.yaml --target sim:lab --prune --allow-management-changes
