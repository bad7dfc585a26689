// The TLS credentials a Node client of a consortium peer uses: the peer's TLS root and,
// when the network wants mutual TLS (as `consortium up` runs it), the TLS client
// certificate of the peer's organization — fabric-gateway's own way,
// grpc.credentials.createSsl(root, key, cert). The config file names them per peer
// (tests/support/fabric_network.py node_client_config).
'use strict';

const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');

function credentialsFor(peer, { withoutClientCert = false } = {}) {
    const root = fs.readFileSync(peer.tlsRootCert);
    if (withoutClientCert || !peer.tlsClientKey) {
        return grpc.credentials.createSsl(root);
    }
    return grpc.credentials.createSsl(root, fs.readFileSync(peer.tlsClientKey), fs.readFileSync(peer.tlsClientCert));
}

module.exports = { credentialsFor };
