'use strict';

// CreateAsset (submit): every transaction writes a new key, so none conflicts.

const { AssetWorkload } = require('./assets');

class CreateAsset extends AssetWorkload {
    async submitTransaction() {
        const id = this.nextId();
        await this.sutAdapter.sendRequests(this.request('CreateAsset', this.createArguments(id)));
    }
}

module.exports.createWorkloadModule = () => new CreateAsset();
