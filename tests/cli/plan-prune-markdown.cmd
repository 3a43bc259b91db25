# --prune in a pull-request comment: the deletes come first.
esxnet plan manifests --target sim:lab --prune --output markdown
