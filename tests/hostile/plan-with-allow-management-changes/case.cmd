# --allow-management-changes with a saved plan made without it: an error, never ignored or taken.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply plan.json --target sim:lab --auto-approve --allow-management-changes
