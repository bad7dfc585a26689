// The chaincode-upgrade race with the unmodified Node @hyperledger/fabric-gateway client:
//   node upgrade_flow.js CONFIG.json endorse FILE  — endorse a CreateAsset, keep the
//                                                     transaction's bytes in FILE
//   node upgrade_flow.js CONFIG.json submit FILE   — submit those bytes, print the status
// tests/conformance/test_fabric_fidelity.py commits a new chaincode definition between.
'use strict';

const fs = require('node:fs');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const { connect, signers, hash } = require('@hyperledger/fabric-gateway');
const { credentialsFor } = require('./client_tls');

const [configPath, step, file] = process.argv.slice(2);
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));

async function main() {
    const peer = config.peers.Org1MSP;
    const identity = config.identities.user1;
    const client = new grpc.Client(peer.address, credentialsFor(peer));
    const gateway = connect({
        client,
        identity: { mspId: identity.mspId, credentials: fs.readFileSync(identity.cert) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(identity.key))),
        hash: hash.sha256,
    });
    try {
        if (step === 'endorse') {
            const contract = gateway.getNetwork(config.channel).getContract(config.chaincode);
            const asset = `race-${process.pid}`;
            const transaction = await contract.newProposal('CreateAsset', { arguments: [asset, 'red', '1', 'Ann', '10'] }).endorse();
            fs.writeFileSync(file, Buffer.from(transaction.getBytes()));
            process.stdout.write(JSON.stringify({ txid: transaction.getTransactionId() }) + '\n');
        } else {
            const transaction = gateway.newTransaction(new Uint8Array(fs.readFileSync(file)));
            const status = await (await transaction.submit()).getStatus();
            process.stdout.write(JSON.stringify({ txid: status.transactionId, code: status.code, successful: status.successful }) + '\n');
        }
    } finally {
        gateway.close();
        client.close();
    }
}

main().catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
});
