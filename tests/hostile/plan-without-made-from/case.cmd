# A plan that records nothing it was made from (as saved before esxnet recorded it).
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /made_from delete
esxnet apply plan.json --target sim:lab --auto-approve
