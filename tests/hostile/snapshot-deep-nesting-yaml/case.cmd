# A 400 KB snapshot nested 200,000 flow lists deep (YAML): refused at once, not after minutes.
esxnet plan manifests --target snapshot:deep.yaml
