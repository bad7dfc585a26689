'use strict';

// ReadAsset (evaluate) of assets created before the round (round argument `assets`,
// default 10 per worker).

const { AssetWorkload } = require('./assets');

class ReadAsset extends AssetWorkload {
    async initializeWorkloadModule(...args) {
        await super.initializeWorkloadModule(...args);
        this.ids = await this.createAssets(this.options.assets || 10);
    }

    async submitTransaction() {
        const id = AssetWorkload.pick(this.ids);
        await this.sutAdapter.sendRequests(this.request('ReadAsset', [id], true));
    }
}

module.exports.createWorkloadModule = () => new ReadAsset();
