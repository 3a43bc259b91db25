# A saved plan whose changes are nested 100,000 arrays deep: refused at serde_json's depth
# limit, without a stack overflow.
esxnet plan manifests --target sim:lab --out plan.json
esxnet apply deep.json --target sim:lab --auto-approve
