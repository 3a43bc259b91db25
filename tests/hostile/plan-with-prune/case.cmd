# --prune with a saved plan made without it.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply plan.json --target sim:lab --auto-approve --prune
