'use strict';

// ReadAsset (evaluate) of assets created before the round.

const { AssetWorkload, PreparedAssetWorkload } = require('./assets');

class ReadAsset extends PreparedAssetWorkload {
    async submitTransaction() {
        const id = AssetWorkload.pick(this.ids);
        await this.sutAdapter.sendRequests(this.request('ReadAsset', [id], true));
    }
}

module.exports.createWorkloadModule = () => new ReadAsset();
