'use strict';

// TransferAsset (submit) among a few assets created before the round: transfers of one
// asset in the same block read the same version, so all but the first fail validation
// with MVCC_READ_CONFLICT, as on Fabric. Fewer assets, more conflicts; with the round
// argument `cycle: true` the assets are taken in turn instead (no conflicts while fewer
// transactions are in flight than there are assets).

const { AssetWorkload, PreparedAssetWorkload, OWNERS } = require('./assets');

class TransferAsset extends PreparedAssetWorkload {
    async submitTransaction() {
        const owner = OWNERS[Math.floor(Math.random() * OWNERS.length)];
        const id = this.options.cycle
            ? this.ids[this.sent++ % this.ids.length]
            : AssetWorkload.pick(this.ids);
        await this.sutAdapter.sendRequests(this.request('TransferAsset', [id, owner]));
    }
}

module.exports.createWorkloadModule = () => new TransferAsset();
