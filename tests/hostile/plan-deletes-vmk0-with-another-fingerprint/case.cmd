# The same edit with the host's fingerprint changed too, so the host looks partly applied:
# the delete is still neither planned again nor done.
esxnet plan manifests --target sim:lab --out plan.json
edit plan.json /changes/- = @vmk0-delete.json
edit plan.json /hosts/0/steps/- = {"address": "esx-01.lab.example/VmkernelAdapter[vmk0]", "phase": "delete"}
edit plan.json /summary/delete = 1
edit plan.json /hosts/0/fingerprint = "0000"
esxnet apply plan.json --target sim:lab --auto-approve
