# --prune deletes what no manifest declares and says what it keeps and why.
esxnet plan manifests --target sim:lab --prune
