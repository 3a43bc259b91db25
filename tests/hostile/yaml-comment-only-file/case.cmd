# A file of comments only is empty too.
esxnet validate manifests.yaml
