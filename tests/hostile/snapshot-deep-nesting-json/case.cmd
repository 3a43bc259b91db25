# A 400 KB snapshot nested 200,000 lists deep (JSON): refused at once, at the first value of the wrong type (serde_json also stops at 128 levels).
esxnet plan manifests --target snapshot:deep.json
