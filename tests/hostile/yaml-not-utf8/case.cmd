# A file that is not UTF-8.
esxnet validate manifests.yaml
