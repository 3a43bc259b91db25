# The journal cannot be written (a full disk): apply says which file and why, and exits 1.
esxnet plan manifests --target sim:lab
symlink lab/journal.jsonl /dev/full
applies
esxnet apply manifests --target sim:lab --auto-approve
