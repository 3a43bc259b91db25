# A key given twice in a flow mapping.
esxnet validate manifests.yaml
