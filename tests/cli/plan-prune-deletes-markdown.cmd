# Manifests that no longer declare the switches, planned with --prune: the deletes are risky and come first.
esxnet apply manifests --target sim:lab --auto-approve
esxnet plan manifests/00-hosts.yaml manifests/10-provisioning-netstack.yaml --target sim:lab --prune --allow-management-changes --output markdown
