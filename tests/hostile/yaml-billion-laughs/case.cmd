# Aliases of aliases (a billion laughs) end quickly.
esxnet validate manifests.yaml
