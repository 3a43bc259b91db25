# What import writes describes the hosts exactly: the plan of it has no changes.
esxnet apply manifests --target sim:lab --auto-approve
esxnet import --target sim:lab --out imported
esxnet plan imported --target sim:lab --detailed-exitcode
