# After an apply with --prune, the lab is in sync (exit 0); the target comes from ESXNET_TARGET.
env ESXNET_TARGET=sim:lab
esxnet apply manifests --auto-approve --prune
esxnet drift manifests
