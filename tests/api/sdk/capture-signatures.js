// Captures requests signed by the official Alibaba Cloud SDKs (versions
// pinned in package.json) as test vectors for the server's verifier
// (tests/api/signature_test.cc). A capture server on 127.0.0.1 records each
// request and answers {"RequestId":"x"}; the captures are printed as JSON:
//
//   npm install && node capture-signatures.js > ../signature_vectors.json
//
// The key pair is fixed and fake; it signs only these vectors.
'use strict';

const http = require('http');
const PopCore = require('@alicloud/pop-core');
const OpenApiCore = require('@alicloud/openapi-core');
const OpenApiClient = require('@alicloud/openapi-client');
const Ecs = require('@alicloud/ecs20140526');
const Vpc = require('@alicloud/vpc20160428');

const ACCESS_KEY_ID = 'LTAItiangongVectors0001';
const ACCESS_KEY_SECRET = 'tiangongVectorSecret0123456789';

const captures = [];
let pendingLabel = '';

function startServer() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      captures.push({
        label: pendingLabel,
        method: req.method,
        target: req.url,
        headers: req.headers,  // names lower-cased by node
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"RequestId":"x"}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function capture(label, call) {
  pendingLabel = label;
  const before = captures.length;
  await call();
  if (captures.length !== before + 1) throw new Error(`${label}: expected one request`);
}

async function main() {
  const server = await startServer();
  const port = server.address().port;
  const hostPort = `127.0.0.1:${port}`;

  // V1 (HMAC-SHA1) through pop-core: GET puts everything in the query, POST
  // in a form body.
  const pop = new PopCore({
    endpoint: `http://${hostPort}`,
    apiVersion: '2014-05-26',
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
  });
  const odd = {
    RegionId: 'cn-tiangong',
    InstanceName: "web *~'()! one two",
    Description: 'Ünïcödé 天宫 + & = / ?',
    'Tag.1.Key': 'env',
    'Tag.1.Value': 'a b*c',
    'Tag.2.Key': 'team',
    'Tag.2.Value': '~(x)!',
  };
  await capture('pop-core GET DescribeInstances', () =>
    pop.request('DescribeInstances', { RegionId: 'cn-tiangong', PageSize: 10 }, {}));
  await capture('pop-core GET ModifyInstanceAttribute odd characters', () =>
    pop.request('ModifyInstanceAttribute', Object.assign({ InstanceId: 'i-abc' }, odd), {}));
  await capture('pop-core POST CreateInstance with lists and odd characters', () =>
    pop.request('CreateInstance', Object.assign({ ImageId: 'm-1', InstanceType: 'ecs.g6.large' },
                                                odd), { method: 'POST' }));
  const popVpc = new PopCore({
    endpoint: `http://${hostPort}`,
    apiVersion: '2016-04-28',
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
  });
  await capture('pop-core POST DescribeVpcs with a repeat list', () =>
    popVpc.request('DescribeVpcs', { RegionId: 'cn-tiangong', VpcIds: ['vpc-a', 'vpc-b'] },
                   { method: 'POST' }));

  // V3 (ACS3-HMAC-SHA256) through the generated SDKs on openapi-core.
  const config = new OpenApiCore.$OpenApiUtil.Config({
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
    regionId: 'cn-tiangong',
    endpoint: hostPort,
    protocol: 'http',
  });
  const ecs = new Ecs.default(config);
  await capture('ecs20140526 DescribeInstances with InstanceIds JSON', () =>
    ecs.describeInstances(new Ecs.DescribeInstancesRequest({
      regionId: 'cn-tiangong',
      instanceIds: JSON.stringify(['i-1', 'i-2']),
      instanceName: "web *~'()! 天宫",
      pageSize: 50,
    })));
  await capture('ecs20140526 RunInstances with Tag.N', () =>
    ecs.runInstances(new Ecs.RunInstancesRequest({
      regionId: 'cn-tiangong',
      imageId: 'm-1',
      instanceType: 'ecs.g6.large',
      vSwitchId: 'vsw-1',
      securityGroupIds: ['sg-1', 'sg-2'],
      amount: 2,
      tag: [new Ecs.RunInstancesRequestTag({ key: 'env', value: 'a b' }),
            new Ecs.RunInstancesRequestTag({ key: 'k*~', value: "(x)!'" })],
      systemDisk: new Ecs.RunInstancesRequestSystemDisk({ category: 'cloud_essd', size: '40' }),
      clientToken: 'TF-RunInstances-1700000000-abc',
    })));
  const vpc = new Vpc.default(config);
  await capture('vpc20160428 CreateVpc', () =>
    vpc.createVpc(new Vpc.CreateVpcRequest({
      regionId: 'cn-tiangong', cidrBlock: '10.0.0.0/8', vpcName: 'net one',
    })));
  await capture('vpc20160428 CreateVpnConnection with a form body', () =>
    vpc.createVpnConnection(new Vpc.CreateVpnConnectionRequest({
      regionId: 'cn-tiangong',
      vpnGatewayId: 'vpn-1',
      localSubnet: '10.0.0.0/24',
      remoteSubnet: '10.1.0.0/24',
      name: 'tunnel *~ 1',
      tunnelOptionsSpecification: [
        new Vpc.CreateVpnConnectionRequestTunnelOptionsSpecification({
          customerGatewayId: 'cgw-1', role: 'master', enableDpd: true,
        }),
        new Vpc.CreateVpnConnectionRequestTunnelOptionsSpecification({
          customerGatewayId: 'cgw-2', role: 'slave', enableDpd: false,
        }),
      ],
    })));

  // The new SDK switched to V1 signing (signatureAlgorithm 'v2'): unsorted
  // query, the form body's parameters signed too.
  const v1Config = new OpenApiCore.$OpenApiUtil.Config({
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
    regionId: 'cn-tiangong',
    endpoint: hostPort,
    protocol: 'http',
    signatureAlgorithm: 'v2',
  });
  const vpcV1 = new Vpc.default(v1Config);
  await capture('vpc20160428 signatureAlgorithm v2 CreateVpnConnection with a form body', () =>
    vpcV1.createVpnConnection(new Vpc.CreateVpnConnectionRequest({
      regionId: 'cn-tiangong',
      vpnGatewayId: 'vpn-1',
      localSubnet: '10.0.0.0/24',
      remoteSubnet: '10.1.0.0/24',
      name: "v1 *~'()! 天宫",
      tunnelOptionsSpecification: [
        new Vpc.CreateVpnConnectionRequestTunnelOptionsSpecification({
          customerGatewayId: 'cgw-1', role: 'master',
        }),
      ],
    })));

  // A generic RPC call through openapi-client 0.4.15 (V3 signing).
  const generic = new OpenApiClient.default(new OpenApiClient.Config({
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
    regionId: 'cn-tiangong',
    endpoint: hostPort,
    protocol: 'http',
  }));
  const params = new OpenApiClient.Params({
    action: 'DescribeVpcs', version: '2016-04-28', protocol: 'HTTP', pathname: '/',
    method: 'POST', authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  await capture('openapi-client callApi DescribeVpcs', () =>
    generic.callApi(params, new OpenApiClient.OpenApiRequest({
      query: { RegionId: 'cn-tiangong', VpcName: "a b*~'()!" },
    }), {}));

  server.close();
  process.stdout.write(JSON.stringify({
    access_key_id: ACCESS_KEY_ID,
    access_key_secret: ACCESS_KEY_SECRET,
    sdks: require('./package.json').dependencies,
    captures,
  }, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
