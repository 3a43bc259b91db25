# Empty documents between separators are nothing.
esxnet validate manifests.yaml
