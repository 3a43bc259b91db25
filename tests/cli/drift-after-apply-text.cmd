# After an apply without --prune, the objects no manifest declares are still drift (exit 2).
esxnet apply manifests --target sim:lab --auto-approve
esxnet drift manifests --target sim:lab
