# A 400 KB snapshot nested 200,000 lists deep (JSON): refused at once, at the first value of the
# wrong type (serde_json also stops at 128 levels).
append deep.json {"hosts":\s{"esx-01.lab.example":\s
repeat deep.json [ 200000
repeat deep.json ] 200000
append deep.json }}\n
esxnet plan manifests --target snapshot:deep.json
