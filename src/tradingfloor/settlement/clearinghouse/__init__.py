"""The clearinghouse simulator (`tradingfloor clearinghouse`): a central counterparty that
takes the platform's trades over the clearing protocol, confirms them, nets them per
participant and security (CNS), settles each date with fails-to-deliver carried to the next,
keeps holdings per participant, and injects faults on demand (`faults`)."""
