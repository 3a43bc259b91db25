# An empty file holds no documents: nothing to say about it, no bogus position.
esxnet validate manifests.yaml
