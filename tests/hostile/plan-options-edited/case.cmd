# A saved plan whose options were edited to prune: planning again with them gives deletes the
# plan does not have.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply other.yaml --target sim:lab --auto-approve
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /options/prune = true
esxnet apply plan.json --target sim:lab --auto-approve
