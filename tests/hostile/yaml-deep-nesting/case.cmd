# A document nested 10,000 levels deep is refused quickly, naming the place.
esxnet validate manifests.yaml
