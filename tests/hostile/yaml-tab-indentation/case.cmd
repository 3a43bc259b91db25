# A tab where YAML wants spaces.
esxnet validate manifests.yaml
