const solc = require('solc');
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const input = {language:'Solidity', sources:{'TestToken.sol':{content:src}},
  settings:{evmVersion:'shanghai', optimizer:{enabled:true, runs:200},
    outputSelection:{'*':{'*':['abi','evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors) { for (const e of out.errors) console.error(e.formattedMessage); if (out.errors.some(e=>e.severity==='error')) process.exit(1); }
const c = out.contracts['TestToken.sol'].TestToken;
fs.writeFileSync(process.argv[3]+'/TestToken.abi.json', JSON.stringify(c.abi, null, 1)+'\n');
fs.writeFileSync(process.argv[3]+'/TestToken.bin', c.evm.bytecode.object+'\n');
console.log('solc', solc.version());
