# After an apply, the pull-request comment says there is nothing to change.
esxnet apply manifests --target sim:lab --auto-approve
esxnet plan manifests --target sim:lab --output markdown
