# A 400 KB snapshot nested 200,000 flow lists deep (YAML): refused at once, not after minutes.
append deep.yaml hosts:\n\s\sesx-01.lab.example:\s
repeat deep.yaml [ 200000
repeat deep.yaml ] 200000
append deep.yaml \n
esxnet plan manifests --target snapshot:deep.yaml
