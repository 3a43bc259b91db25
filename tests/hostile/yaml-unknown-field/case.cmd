# An unknown field names its line and path.
esxnet validate manifests.yaml
