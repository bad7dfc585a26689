'use strict';
// Drives the unmodified fabric-ca-client against a consortium CA and prints what it got
// as one JSON object on stdout. Usage: node ca_flow.js <ca url> <mspid>
const FabricCAServices = require('fabric-ca-client');
const {User} = require('fabric-common');

async function failureOf(promise) {
	try {
		await promise;
		return null;
	} catch (err) {
		return {message: err.message, errors: err.errors || null};
	}
}

async function userFrom(name, enrollment, mspid) {
	const user = new User(name);
	await user.setEnrollment(enrollment.key, enrollment.certificate, mspid);
	return user;
}

async function main() {
	const [url, mspid] = process.argv.slice(2);
	const ca = new FabricCAServices(url, null, 'ca');
	const out = {};

	out.badPassword = await failureOf(ca.enroll({enrollmentID: 'admin', enrollmentSecret: 'wrong'}));

	const adminEnrollment = await ca.enroll({enrollmentID: 'admin', enrollmentSecret: 'adminpw'});
	out.adminCert = adminEnrollment.certificate;
	out.caChain = adminEnrollment.rootCertificate;
	const admin = await userFrom('admin', adminEnrollment, mspid);

	const info = await ca.getCaInfo(admin);
	out.caName = info.caName;

	const secret = await ca.register({
		enrollmentID: 'user1',
		affiliation: 'org1.department1',
		role: 'client',
		maxEnrollments: 2,
		attrs: [{name: 'app.role', value: 'auditor', ecert: true}],
	}, admin);
	out.secret = secret;
	const identities = ca.newIdentityService();
	out.identity = (await identities.getOne('user1', admin)).result;
	out.identityIds = (await identities.getAll(admin)).result.identities.map((i) => i.id);
	out.duplicate = await failureOf(ca.register({enrollmentID: 'user1', affiliation: 'org1.department1'}, admin));

	const userEnrollment = await ca.enroll({enrollmentID: 'user1', enrollmentSecret: secret});
	out.userCert = userEnrollment.certificate;
	const user = await userFrom('user1', userEnrollment, mspid);
	out.userCannotRegister = await failureOf(ca.register({enrollmentID: 'user2', affiliation: 'org1.department1'}, user));

	const onlyRole = await ca.enroll({
		enrollmentID: 'user1',
		enrollmentSecret: secret,
		attr_reqs: [{name: 'app.role', optional: false}, {name: 'app.missing', optional: true}],
	});
	out.attrCert = onlyRole.certificate;
	out.pastMax = await failureOf(ca.enroll({enrollmentID: 'user1', enrollmentSecret: secret}));

	const tls = await ca.enroll({enrollmentID: 'admin', enrollmentSecret: 'adminpw', profile: 'tls'});
	out.tlsCert = tls.certificate;
	out.tlsChain = tls.rootCertificate;

	const reenrolled = await ca.reenroll(user);
	out.reenrolledCert = reenrolled.certificate;

	out.revoke = await ca.revoke({enrollmentID: 'user1', reason: 'keycompromise'}, admin);
	out.revokedCannotEnroll = await failureOf(ca.enroll({enrollmentID: 'user1', enrollmentSecret: secret}));
	out.crl = await ca.generateCRL({}, admin);
	process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
	process.stderr.write(`ca_flow failed: ${err.stack || err}\n`);
	process.exit(1);
});
