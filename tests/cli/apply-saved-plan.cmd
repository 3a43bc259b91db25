# A saved plan applies without planning again.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply plan.json --target sim:lab --auto-approve
