'use strict';

// What the asset-transfer workloads share: the request Caliper's Fabric connector
// sends, asset ids unique per worker and round, and creating the assets a round reads
// or transfers before it starts (outside the measured transactions).

const { WorkloadModuleBase } = require('@hyperledger/caliper-core');

const OWNERS = ['Tomoko', 'Brad', 'Jin Soo', 'Max', 'Adriana', 'Michel'];

class AssetWorkload extends WorkloadModuleBase {
    /** Round arguments: contractId (default basic), invokerMspId (Org1MSP), invoker (user1). */
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext);
        this.options = roundArguments || {};
        this.sent = 0;
        this.prefix = `caliper_${process.pid}_${workerIndex}_${roundIndex}`;
    }

    /** A request for Caliper's connector: a submit unless readOnly. */
    request(contractFunction, contractArguments, readOnly = false) {
        const args = this.options;
        return {
            contractId: args.contractId || 'basic',
            contractFunction,
            contractArguments,
            invokerMspId: args.invokerMspId || 'Org1MSP',
            invokerIdentity: args.invoker || 'user1',
            readOnly,
        };
    }

    /** The next asset id of this worker and round. */
    nextId() {
        this.sent += 1;
        return `${this.prefix}_${this.sent}`;
    }

    /** CreateAsset arguments for id. */
    createArguments(id) {
        return [id, 'blue', '5', OWNERS[this.sent % OWNERS.length], '300'];
    }

    /** Creates `count` assets before the round; their ids. */
    async createAssets(count) {
        const ids = [];
        for (let i = 0; i < count; i++) {
            const id = `${this.prefix}_pre_${i}`;
            await this.sutAdapter.sendRequests(this.request('CreateAsset', [id, 'red', '5', 'Tomoko', '300']));
            ids.push(id);
        }
        return ids;
    }

    /** One of `ids`, at random. */
    static pick(ids) {
        return ids[Math.floor(Math.random() * ids.length)];
    }
}

/** A workload over assets each worker creates before its round (round argument `assets`,
 *  default 10), outside the measured transactions: their ids in `this.ids`. */
class PreparedAssetWorkload extends AssetWorkload {
    async initializeWorkloadModule(...args) {
        await super.initializeWorkloadModule(...args);
        this.ids = await this.createAssets(this.options.assets || 10);
    }
}

module.exports = { AssetWorkload, PreparedAssetWorkload, OWNERS };
