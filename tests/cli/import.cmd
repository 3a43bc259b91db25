# Adopting hosts that are already configured: after the examples are applied, import writes
# folded manifests for what the hosts have and says which hosts differ from their group.
esxnet apply manifests --target sim:lab --auto-approve
esxnet import --target sim:lab --out imported
