# Links back to the directory and to its parent, and a second link to a file: validate ends
# and reads each file once (one document, no host declared twice).
symlink tree/m/self .
symlink tree/m/parent ..
symlink tree/m/again.yaml hosts.yaml
esxnet validate tree/m
