# A snapshot whose block mappings nest 200 levels deep: refused where it gets too deep.
esxnet plan manifests --target snapshot:deep.yaml
