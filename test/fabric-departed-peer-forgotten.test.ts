import t from 'tap'
import { departedPeerForgotten, overEveryTransport } from './fabric-suite.ts'

overEveryTransport(t, 'fabric - a departed peer is not heartbeated forever', departedPeerForgotten)
