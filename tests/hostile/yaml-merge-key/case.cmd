# A merge key (<<) is not part of YAML 1.2 and not taken.
esxnet validate manifests.yaml
