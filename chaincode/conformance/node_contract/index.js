/*
 * A low-level Node chaincode (fabric-shim), served as chaincode-as-a-service, that uses the
 * stub calls the Python shim lacks: paginated queries, private data and its hash, key-level
 * endorsement (state metadata), chaincode-to-chaincode calls, transient data, ClientIdentity.
 * Each function answers JSON so the Python tests can assert on it.
 */
'use strict';

const fs = require('fs');
const shim = require('fabric-shim');

async function collect(iterator, map) {
    const out = [];
    for (let item = await iterator.next(); !item.done; item = await iterator.next()) {
        out.push(map(item.value));
    }
    await iterator.close();
    return out;
}

const functions = {
    async put(stub, [key, value]) {
        await stub.putState(key, Buffer.from(value));
        return {};
    },
    async get(stub, [key]) {
        return { value: Buffer.from(await stub.getState(key)).toString() };
    },
    async page(stub, [start, end, size, bookmark]) {
        const { iterator, metadata } = await stub.getStateByRangeWithPagination(
            start, end, parseInt(size, 10), bookmark);
        const keys = await collect(iterator, (kv) => kv.key);
        return { keys, bookmark: metadata.bookmark, count: metadata.fetchedRecordsCount };
    },
    async range(stub, [start, end]) {
        return { keys: await collect(await stub.getStateByRange(start, end), (kv) => kv.key) };
    },
    async query(stub, [query]) {
        return { keys: await collect(await stub.getQueryResult(query), (kv) => kv.key) };
    },
    async history(stub, [key]) {
        const entries = await collect(await stub.getHistoryForKey(key), (m) => ({
            txId: m.txId, isDelete: m.isDelete, value: Buffer.from(m.value).toString(),
        }));
        return { entries };
    },
    async putPrivate(stub, [collection, key]) {
        await stub.putPrivateData(collection, key, stub.getTransient().get('value'));
        return {};
    },
    async getPrivate(stub, [collection, key]) {
        return { value: (await stub.getPrivateData(collection, key)).toString() };
    },
    async privateHash(stub, [collection, key]) {
        return { hash: Buffer.from(await stub.getPrivateDataHash(collection, key)).toString('hex') };
    },
    async setPolicy(stub, [key, policy]) {
        await stub.setStateValidationParameter(key, Buffer.from(policy));
        return {};
    },
    async getPolicy(stub, [key]) {
        return { policy: Buffer.from(await stub.getStateValidationParameter(key)).toString() };
    },
    async emit(stub, [name, payload]) {
        stub.setEvent(name, Buffer.from(payload));
        return {};
    },
    async whoami(stub) {
        const cid = new shim.ClientIdentity(stub);
        return { mspid: cid.getMSPID(), id: cid.getID(), role: cid.getAttributeValue('role') };
    },
    async call(stub, [chaincode, ...args]) {
        const response = await stub.invokeChaincode(chaincode, args, '');
        return { status: response.status, payload: response.payload.toString() };
    },
    async fail() {
        throw new Error('deliberate failure');
    },
};

class Probe {
    async Init() {
        return shim.success();
    }

    async Invoke(stub) {
        const { fcn, params } = stub.getFunctionAndParameters();
        const fn = functions[fcn];
        if (!fn) {
            return shim.error(`unknown function ${fcn}`);
        }
        try {
            return shim.success(Buffer.from(JSON.stringify(await fn(stub, params))));
        } catch (err) {
            return shim.error(err.message);
        }
    }
}

// TLS as Fabric's CCaaS samples take it (file paths in the environment, the same names
// as `python -m chaincode.runner`); with a client CA, peers must present a certificate.
const tlsFile = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
const tlsProps = process.env.CHAINCODE_TLS_KEY
    ? {
          key: tlsFile('CHAINCODE_TLS_KEY'),
          cert: tlsFile('CHAINCODE_TLS_CERT'),
          clientCACerts: tlsFile('CHAINCODE_CLIENT_CA_CERT'),
      }
    : undefined;

const server = shim.server(new Probe(), {
    ccid: process.env.CHAINCODE_ID,
    address: process.env.CHAINCODE_SERVER_ADDRESS,
    tlsProps,
});
server.start().then(() => {
    console.log(`serving chaincode ${process.env.CHAINCODE_ID}`);
});
