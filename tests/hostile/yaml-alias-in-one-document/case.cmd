# An alias to an anchor of the same document is read as YAML says.
esxnet validate manifests.yaml
