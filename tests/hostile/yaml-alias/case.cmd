# Anchors and aliases: said where, in words.
esxnet validate manifests.yaml
