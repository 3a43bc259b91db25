# The example manifests are valid.
esxnet validate manifests
