# A saved plan whose changes are nested 100,000 arrays deep: refused at serde_json's depth
# limit, without a stack overflow.
esxnet plan manifests --target sim:lab --out plan.json
append deep.json {"format_version":\s1,\s"changes":\s
repeat deep.json [ 100000
repeat deep.json ] 100000
append deep.json }\n
esxnet apply deep.json --target sim:lab --auto-approve
