# A key given twice: the second one is an error at its own line.
esxnet validate manifests.yaml
